package admin

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The IP blocks page (admins only): the blocks in force, a form to block
// an address or a network for a while or until lifted, and a button to
// lift each. A blocked address reaches no part of the site, this admin
// area included: the page refuses to block the admin's own address.

// blocksPage is blocks.html's data.
type blocksPage struct {
	Blocks    []blockRow
	Durations []option
	Prefix    string // the form's, when it is shown again
	Reason    string
	YourIP    string
}

type blockRow struct {
	Prefix, Until, Created, By, Reason string
}

// blockLengths are the lengths the block form offers ("": until lifted).
var blockLengths = []struct {
	value string
	label string
}{
	{"", i18n.Key("until I lift it")},
	{"1h0m0s", i18n.Key("1 hour")},
	{"24h0m0s", i18n.Key("1 day")},
	{"168h0m0s", i18n.Key("1 week")},
	{"720h0m0s", i18n.Key("30 days")},
	{"8760h0m0s", i18n.Key("1 year")},
}

// byWords names who placed a block.
func byWords(q *request, by string) string {
	switch {
	case by == "terminal" || by == "":
		return q.T("the site owner, at the terminal")
	case strings.HasPrefix(by, "module:"):
		return q.T("the module {name}", "name", strings.TrimPrefix(by, "module:"))
	}
	return by
}

func (a *Area) handleBlocks(w http.ResponseWriter, r *http.Request, q *request) {
	a.showBlocks(w, r, q, http.StatusOK, blocksDone[r.URL.Query().Get("done")], "")
}

// blocksDone are the notices after an action (?done=…).
var blocksDone = map[string]string{
	"block":   i18n.Key("The block is in force: requests from there are refused."),
	"unblock": i18n.Key("The block is lifted."),
}

func (a *Area) showBlocks(w http.ResponseWriter, r *http.Request, q *request, status int, notice, errText string) {
	blocks, err := a.cfg.Site.Store().IPBlocks(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing IP blocks failed", err)
		return
	}
	d := blocksPage{YourIP: clientIP(r)}
	if r.Method == http.MethodPost {
		d.Prefix, d.Reason = r.PostForm.Get("prefix"), r.PostForm.Get("reason")
	}
	names := map[int64]string{}
	for _, b := range blocks {
		row := blockRow{Prefix: b.Prefix.String(), Until: when(q, b.Until), Created: when(q, b.Created), By: byWords(q, b.CreatedBy), Reason: b.Reason}
		if b.Until.IsZero() {
			row.Until = q.T("until lifted")
		}
		if b.Prefix.IsSingleIP() {
			row.Prefix = b.Prefix.Addr().String()
		}
		// By is "user:ID" for an admin's: name the user.
		if id, ok := strings.CutPrefix(b.CreatedBy, "user:"); ok {
			row.By = q.T("user #{id} (erased)", "id", id)
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				if names[n] == "" {
					if u, err := a.cfg.Site.Store().LookupUser(r.Context(), "", n); err == nil {
						names[n] = u.Username
					}
				}
				if names[n] != "" {
					row.By = names[n]
				}
			}
		}
		d.Blocks = append(d.Blocks, row)
	}
	for _, l := range blockLengths {
		d.Durations = append(d.Durations, option{Value: l.value, Label: q.T(l.label)})
	}
	a.show(w, r, q, status, "blocks.html", page{Title: i18n.Key("IP blocks"), Data: d, Message: notice, Error: errText})
}

// handleBlock blocks an address or network, once confirmed; never the
// admin's own address.
func (a *Area) handleBlock(w http.ResponseWriter, r *http.Request, q *request) {
	p, err := site.ParsePrefix(strings.TrimSpace(r.PostForm.Get("prefix")))
	if err != nil {
		_, msg := actionError(q, site.ErrInvalidPrefix)
		a.showBlocks(w, r, q, http.StatusBadRequest, "", msg)
		return
	}
	if own, err := netip.ParseAddr(clientIP(r)); err == nil && p.Contains(own.Unmap()) {
		a.showBlocks(w, r, q, http.StatusConflict, "", q.T("That would block your own address ({ip}): you would lose this admin area too. If you really mean to, use the terminal: websonic admin block-ip.", "ip", own.Unmap().String()))
		return
	}
	var until time.Time
	if f := r.PostForm.Get("for"); f != "" {
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			a.showBlocks(w, r, q, http.StatusBadRequest, "", q.T("Choose how long the block lasts from the list."))
			return
		}
		until = time.Now().Add(d)
	}
	text := p.String()
	if p.IsSingleIP() {
		text = p.Addr().String()
	}
	c := confirmPage{Question: q.T("Block {prefix}? Every request from there is refused, sign-ins and registrations included.", "prefix", text),
		Button: q.T("Yes, block {prefix}", "prefix", text), Back: Prefix + "/blocks"}
	if !a.confirmed(w, r, q, i18n.Key("Block an address"), c, "prefix", "for", "reason") {
		return
	}
	if err := a.cfg.Site.Store().BlockIP(r.Context(), actor(r, q), p, until, strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		status, msg := actionError(q, err)
		if status == 0 {
			a.fail(w, r, q, "blocking an address failed", err)
			return
		}
		a.showBlocks(w, r, q, status, "", msg)
		return
	}
	a.log.Info("address blocked", "admin", q.user.Username, "prefix", p, "until", until)
	http.Redirect(w, r, Prefix+"/blocks?done=block", http.StatusSeeOther)
}

// handleUnblock lifts a block.
func (a *Area) handleUnblock(w http.ResponseWriter, r *http.Request, q *request) {
	p, err := site.ParsePrefix(strings.TrimSpace(r.PostForm.Get("prefix")))
	if err == nil {
		err = a.cfg.Site.Store().UnblockIP(r.Context(), actor(r, q), p)
	} else {
		err = site.ErrInvalidPrefix
	}
	if err != nil {
		status, msg := actionError(q, err)
		if status == 0 {
			a.fail(w, r, q, "lifting a block failed", err)
			return
		}
		a.showBlocks(w, r, q, status, "", msg)
		return
	}
	a.log.Info("address unblocked", "admin", q.user.Username, "prefix", p)
	http.Redirect(w, r, Prefix+"/blocks?done=unblock", http.StatusSeeOther)
}
