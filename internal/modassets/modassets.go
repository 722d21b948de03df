// Package modassets is the one home of a module's static assets (the
// files of its package's assets/ folder: scripts, styles, images, fonts):
// which paths are allowed, how many and how large they may be, how they
// travel in the signed package (one deterministic tar layer, see Tar and
// Untar) and which content type each is served with (ContentType, an
// explicit table; nothing is sniffed).
//
// Every reader of assets (modbuild when it packages a build, ocipkg when it
// packs and when it fetches, modhost when it loads a package) checks them
// with this package, so a bad path or an oversized file is refused at
// build, at publish and at load alike.
package modassets

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Dir is the assets folder in a module's source and package folders.
const Dir = "assets"

// Limits, checked everywhere assets are read.
const (
	MaxFiles    = 1000     // files in one module's assets
	MaxFileSize = 8 << 20  // bytes of one asset
	MaxTotal    = 32 << 20 // bytes of all of a module's assets
	MaxPathLen  = 200      // bytes of one asset path
	MaxDepth    = 8        // folders deep
	// MaxTarSize bounds the asset layer: the files plus the tar format's
	// headers and padding (at most 1.5 KiB per file) and its end blocks.
	MaxTarSize = MaxTotal + MaxFiles*1536 + 1024
)

// ErrAssets wraps every refusal of a module's assets.
var ErrAssets = errors.New("modassets: bad assets")

// CheckPath accepts only clean, relative, slash-separated paths made of
// letters, digits, '.', '_' and '-', whose segments do not start with a
// dot (no "..", no hidden files), at most MaxDepth deep and MaxPathLen
// long.
func CheckPath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrAssets)
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("%w: path %.40q… is longer than %d bytes", ErrAssets, p, MaxPathLen)
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxDepth+1 {
		return fmt.Errorf("%w: path %q is more than %d folders deep", ErrAssets, p, MaxDepth)
	}
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("%w: path %q is not a clean relative path", ErrAssets, p)
		}
		if s[0] == '.' {
			return fmt.Errorf("%w: path %q has a segment starting with a dot", ErrAssets, p)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("%w: path %q: only letters, digits, '.', '_' and '-' are allowed", ErrAssets, p)
			}
		}
	}
	return nil
}

// Files are a module's assets by path (relative to the assets folder).
// A Files value is never changed once built.
type Files map[string][]byte

// Check checks every path and the limits, and that no two paths differ
// only in case (they would collide on some file systems and CDNs).
func (f Files) Check() error {
	if len(f) > MaxFiles {
		return fmt.Errorf("%w: %d files, more than %d", ErrAssets, len(f), MaxFiles)
	}
	var total int64
	folded := make(map[string]string, len(f))
	for p, b := range f {
		if err := CheckPath(p); err != nil {
			return err
		}
		if len(b) > MaxFileSize {
			return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrAssets, p, len(b), MaxFileSize)
		}
		total += int64(len(b))
		l := strings.ToLower(p)
		if q, dup := folded[l]; dup {
			return fmt.Errorf("%w: %s and %s differ only in case", ErrAssets, p, q)
		}
		folded[l] = p
	}
	if total > MaxTotal {
		return fmt.Errorf("%w: %d bytes in all, more than %d", ErrAssets, total, MaxTotal)
	}
	// A file and a folder of the same name cannot both exist.
	for p := range f {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, clash := f[d]; clash {
				return fmt.Errorf("%w: %s is both a file and a folder", ErrAssets, d)
			}
		}
	}
	return nil
}

// Paths returns the asset paths, sorted.
func (f Files) Paths() []string {
	ps := make([]string, 0, len(f))
	for p := range f {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Read reads the assets under dir of fsys ("assets" in a package folder):
// regular files only (a symlink, device or other special file is refused,
// as is anything beyond the limits). A missing dir is no assets (nil).
func Read(fsys fs.FS, dir string) (Files, error) {
	st, err := fs.Stat(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAssets, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrAssets, dir)
	}
	files := Files{}
	var total int64
	err = fs.WalkDir(fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == dir {
			return nil
		}
		rel := strings.TrimPrefix(name, dir+"/")
		if d.IsDir() {
			if rel == "" || rel[0] == '.' || strings.Contains(rel, "/.") {
				return fmt.Errorf("%w: folder %q: hidden folders are not assets", ErrAssets, rel)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file (%s)", ErrAssets, rel, d.Type())
		}
		if err := CheckPath(rel); err != nil {
			return err
		}
		if len(files) == MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrAssets, MaxFiles)
		}
		b, err := readFile(fsys, name)
		if err != nil {
			return err
		}
		if total += int64(len(b)); total > MaxTotal {
			return fmt.Errorf("%w: more than %d bytes in all", ErrAssets, MaxTotal)
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrAssets) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrAssets, err)
	}
	if err := files.Check(); err != nil {
		return nil, err
	}
	return files, nil
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrAssets, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrAssets, name, MaxFileSize)
	}
	return b, nil
}

// Tar encodes f as the package's asset layer: a POSIX tar of regular
// files in path order, with fixed modes, owners and times, so that the
// same files always give the same bytes (and digest). f must pass Check.
func Tar(f Files) ([]byte, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range f.Paths() {
		b := f[p]
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: p, Size: int64(len(b)), Mode: 0o644, Format: tar.FormatUSTAR,
		}); err != nil {
			return nil, fmt.Errorf("modassets: tar %s: %w", p, err)
		}
		if _, err := tw.Write(b); err != nil {
			return nil, fmt.Errorf("modassets: tar %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("modassets: tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Untar decodes an asset layer, refusing anything Tar would not have
// written: entries other than regular files (links, folders, devices…),
// bad or duplicate paths, files or totals beyond the limits, a layer
// larger than MaxTarSize, and bytes after the tar's end.
func Untar(b []byte) (Files, error) {
	if len(b) > MaxTarSize {
		return nil, fmt.Errorf("%w: asset layer of %d bytes, more than %d", ErrAssets, len(b), MaxTarSize)
	}
	r := bytes.NewReader(b)
	tr := tar.NewReader(r)
	files := Files{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar: %w", ErrAssets, err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: tar entry %q is not a regular file (type %q)", ErrAssets, h.Name, h.Typeflag)
		}
		if err := CheckPath(h.Name); err != nil {
			return nil, err
		}
		if _, dup := files[h.Name]; dup {
			return nil, fmt.Errorf("%w: %s appears twice", ErrAssets, h.Name)
		}
		if len(files) == MaxFiles {
			return nil, fmt.Errorf("%w: more than %d files", ErrAssets, MaxFiles)
		}
		if h.Size < 0 || h.Size > MaxFileSize {
			return nil, fmt.Errorf("%w: %s declares %d bytes, more than %d", ErrAssets, h.Name, h.Size, MaxFileSize)
		}
		if total += h.Size; total > MaxTotal {
			return nil, fmt.Errorf("%w: more than %d bytes in all", ErrAssets, MaxTotal)
		}
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return nil, fmt.Errorf("%w: tar %s: %w", ErrAssets, h.Name, err)
		}
		files[h.Name] = data
	}
	// What follows the end marker must be the zero padding tar writers add.
	rest, _ := io.ReadAll(r)
	if bytes.ContainsFunc(rest, func(c rune) bool { return c != 0 }) {
		return nil, fmt.Errorf("%w: data after the end of the tar", ErrAssets)
	}
	if err := files.Check(); err != nil {
		return nil, err
	}
	return files, nil
}

// Digest is the hex SHA-256 of f's asset layer (Tar): the same for a
// local build and for the signed package of the same files.
func Digest(f Files) (string, error) {
	b, err := Tar(f)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
