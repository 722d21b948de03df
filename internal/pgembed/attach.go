package pgembed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// Attach returns the superuser URL of a cluster in dir that another process
// (a running `websonic serve`) owns, so that a second command, such as
// `websonic admin create`, can work while the site runs. It fails unless the
// server answers on dir's socket. Only the cluster's OS user and root can
// reach that socket (see the package doc), so attaching grants nothing new.
func Attach(ctx context.Context, dir, dbname string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("pgembed: %w", err)
	}
	sockDir := filepath.Join(abs, "run")
	if _, err := os.Stat(socketFile(sockDir)); err != nil {
		return "", fmt.Errorf("pgembed: attach to %s: no server socket: %w", abs, err)
	}
	url := socketURL(Superuser, dbname, sockDir)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("pgembed: attach to %s: %w", abs, err)
	}
	conn.Close(ctx)
	return url, nil
}
