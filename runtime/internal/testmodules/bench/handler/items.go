package handler

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// PageSize is how many items one page of the items endpoint holds.
const PageSize = 10

// ItemsQuery is the page query every Store runs: the PageSize items after
// the id $1, in id order.
const ItemsQuery = `SELECT id, name, description, price_cents, updated_at FROM items WHERE id > $1 ORDER BY id LIMIT 10`

// Pager is a Store that also reads pages of items (a realistic listing:
// ten rows and their JSON).
type Pager interface {
	Items(ctx context.Context, after int64) ([]Item, error)
}

// itemsPage is the JSON of a page: its items and the cursor of the next.
type itemsPage struct {
	Items []Item `json:"items"`
	Next  int64  `json:"next,omitempty"`
}

// items serves GET base/items?after=N: the page of items after id N.
func items(w http.ResponseWriter, r *http.Request, store Pager) {
	after := int64(0)
	if s := r.URL.Query().Get("after"); s != "" {
		var err error
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			http.Error(w, "bad after", http.StatusBadRequest)
			return
		}
	}
	its, err := store.Items(r.Context(), after)
	if err != nil {
		http.Error(w, "could not load the items", http.StatusInternalServerError)
		return
	}
	page := itemsPage{Items: its}
	if len(its) == PageSize {
		page.Next = its[len(its)-1].ID
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

// Rows is what ReadItems reads: *sql.Rows and pgx.Rows both are.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadItems reads the rows of ItemsQuery (or ItemQuery), for every Store.
func ReadItems(rows Rows) ([]Item, error) {
	its := make([]Item, 0, PageSize)
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ID, &it.Name, &it.Description, &it.PriceCents, &it.UpdatedAt); err != nil {
			return nil, err
		}
		its = append(its, it)
	}
	return its, rows.Err()
}
