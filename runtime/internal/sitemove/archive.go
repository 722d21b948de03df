package sitemove

import (
	"archive/tar"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"time"

	"filippo.io/age"
)

// PartSize is the most a dump part holds (and what an export buffers).
const PartSize = 8 << 20

// Entry names.
const (
	moveEntry = "move.json"
	sigEntry  = "move.sig"
	partDir   = "dump/"
)

var partRE = regexp.MustCompile(`^dump/([0-9]{6})$`)

// partWriter cuts what is written into dump parts of the tar stream,
// hashing it; the first bytes (the dump's first tar entry, dump.json) are
// also hashed on their own for DumpRef.ManifestSHA256.
type partWriter struct {
	tw    *tar.Writer
	buf   []byte
	parts int
	size  int64
	sum   hash.Hash
	man   manifestHasher
	mod   time.Time
}

func newPartWriter(tw *tar.Writer, mod time.Time) *partWriter {
	return &partWriter{tw: tw, buf: make([]byte, 0, PartSize), sum: sha256.New(), mod: mod}
}

func (w *partWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.sum.Write(p)
	w.man.Write(p)
	w.size += int64(n)
	for len(p) > 0 {
		k := min(len(p), PartSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == PartSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *partWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := writeEntry(w.tw, fmt.Sprintf("%s%06d", partDir, w.parts), w.buf, w.mod); err != nil {
		return err
	}
	w.parts++
	w.buf = w.buf[:0]
	return nil
}

func (w *partWriter) ref() (DumpRef, error) {
	if err := w.flush(); err != nil {
		return DumpRef{}, err
	}
	ms, err := w.man.sum()
	if err != nil {
		return DumpRef{}, err
	}
	return DumpRef{Size: w.size, Parts: w.parts, SHA256: hex.EncodeToString(w.sum.Sum(nil)), ManifestSHA256: ms}, nil
}

func writeEntry(tw *tar.Writer, name string, b []byte, mod time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: mod, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// manifestHasher hashes the body of the first entry of the tar stream
// written to it (the sitedump stream's dump.json), reading it with
// archive/tar in a goroutine; what follows is not kept.
type manifestHasher struct {
	pw   *io.PipeWriter
	res  chan manifestSum
	done bool
	got  *manifestSum
}

type manifestSum struct {
	sum string
	err error
}

func (m *manifestHasher) Write(p []byte) {
	if m.done {
		return
	}
	if m.pw == nil {
		pr, pw := io.Pipe()
		m.pw, m.res = pw, make(chan manifestSum, 1)
		go func() {
			tr := tar.NewReader(pr)
			h, err := tr.Next()
			var r manifestSum
			switch {
			case err != nil:
				r.err = fmt.Errorf("%w: the dump: %w", ErrArchive, err)
			case h.Name != "dump.json" || h.Typeflag != tar.TypeReg || h.Size > MaxMoveJSON*4:
				r.err = fmt.Errorf("%w: the dump does not start with its manifest (dump.json)", ErrArchive)
			default:
				s := sha256.New()
				if _, err := io.Copy(s, tr); err != nil {
					r.err = fmt.Errorf("%w: the dump's manifest: %w", ErrArchive, err)
				} else {
					r.sum = hex.EncodeToString(s.Sum(nil))
				}
			}
			m.res <- r
			pr.CloseWithError(errManifestRead)
		}()
	}
	if _, err := m.pw.Write(p); err != nil {
		m.finish()
	}
}

var errManifestRead = errors.New("manifest read")

func (m *manifestHasher) finish() {
	if m.got == nil && m.pw != nil {
		m.pw.Close()
		r := <-m.res
		m.got = &r
	}
	m.done = true
}

// sum waits for the manifest's hash.
func (m *manifestHasher) sum() (string, error) {
	if m.pw == nil {
		return "", fmt.Errorf("%w: the dump is empty", ErrArchive)
	}
	m.finish()
	return m.got.sum, m.got.err
}

// countingWriter counts what passes to w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// parsed is what the first reading of an archive found.
type parsed struct {
	move     *Move
	moveJSON []byte
	sig      []byte
	fp       string
}

// openArchive decrypts r with id and returns the tar reader, mapping
// age's errors onto ours.
func openArchive(r io.Reader, id age.Identity) (*tar.Reader, error) {
	dr, err := age.Decrypt(r, id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("%w (run `websonic site import --prepare` here and export to the recipient it prints): %w", ErrWrongRecipient, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrArchive, err)
	}
	return tar.NewReader(dr), nil
}

// readArchive reads the archive through: parts (each passed to part, in
// order, when not nil), move.json and move.sig, and checks that parts,
// move.json and signature agree. It returns what it found.
func readArchive(r io.Reader, id age.Identity, part func(io.Reader) error) (*parsed, error) {
	tr, err := openArchive(r, id)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	var man manifestHasher
	var size int64
	parts := 0
	var p parsed
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrArchive, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: entry %q is not a file", ErrArchive, h.Name)
		}
		switch {
		case p.moveJSON == nil && partRE.MatchString(h.Name):
			if h.Name != fmt.Sprintf("%s%06d", partDir, parts) || h.Size <= 0 || h.Size > PartSize {
				return nil, fmt.Errorf("%w: entry %q out of place or of size %d", ErrArchive, h.Name, h.Size)
			}
			parts++
			size += h.Size
			body := io.TeeReader(io.LimitReader(tr, h.Size), writerFunc(func(b []byte) { sum.Write(b); man.Write(b) }))
			if part != nil {
				if err := part(body); err != nil {
					return nil, err
				}
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrArchive, err)
			}
		case h.Name == moveEntry && p.moveJSON == nil:
			if h.Size > MaxMoveJSON {
				return nil, fmt.Errorf("%w: move.json is larger than %d bytes", ErrArchive, MaxMoveJSON)
			}
			if p.moveJSON, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrArchive, err)
			}
		case h.Name == sigEntry && p.moveJSON != nil && p.sig == nil:
			if h.Size != ed25519.SignatureSize {
				return nil, fmt.Errorf("%w: move.sig has %d bytes", ErrArchive, h.Size)
			}
			if p.sig, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrArchive, err)
			}
		default:
			return nil, fmt.Errorf("%w: unexpected entry %q", ErrArchive, h.Name)
		}
	}
	if p.moveJSON == nil || p.sig == nil {
		return nil, fmt.Errorf("%w: it ends before move.json and move.sig (cut short?)", ErrArchive)
	}
	m, err := DecodeMove(p.moveJSON)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(ed25519.PublicKey(m.Source.PublicKey), p.moveJSON, p.sig) {
		return nil, ErrSignature
	}
	p.move, p.fp = m, Fingerprint(m.Source.PublicKey)
	got := hex.EncodeToString(sum.Sum(nil))
	ms, merr := man.sum()
	if size != m.Dump.Size || parts != m.Dump.Parts || got != m.Dump.SHA256 || merr != nil || ms != m.Dump.ManifestSHA256 {
		return nil, fmt.Errorf("%w: the dump (%d bytes in %d parts, sha256 %s) is not the one move.json signs (%d bytes in %d parts, sha256 %s)",
			ErrArchive, size, parts, got, m.Dump.Size, m.Dump.Parts, m.Dump.SHA256)
	}
	return &p, nil
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
