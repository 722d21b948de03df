package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/websonic/websonic/sdk/manifest"
)

// readSourceManifest reads and checks the manifest of the module in dir,
// so that its errors name the author's own file.
func readSourceManifest(dir string) (*manifest.Manifest, error) {
	path := filepath.Join(dir, manifest.FileName)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names path
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// sourceError is an error met while working on a temporary copy of the
// author's folder, told in terms of that folder.
type sourceError struct {
	msg string
	err error
}

func (e *sourceError) Error() string { return e.msg }
func (e *sourceError) Unwrap() error { return e.err }

// inSource rewrites the temporary package folder tmp in err's message as
// the source folder src it was built from (errors.Is and As still see
// err).
func inSource(err error, tmp, src string) error {
	if err == nil || !strings.Contains(err.Error(), tmp) {
		return err
	}
	return &sourceError{msg: strings.ReplaceAll(err.Error(), tmp, src+" (as built)"), err: err}
}
