// Command bench is the test-only module of the benchmarks in
// runtime/internal/bench: the handler of package handler, served under /wasm,
// with its store on the SDK's database/sql driver. The benchmarks compile
// the same handler natively and compare.
//
// The manifest asks for core_data "users", which the module never reads:
// sandboxdb stores a nil grant list as NULL in websonic.modules.granted_views
// (NOT NULL), so a module asking for no core data cannot start.
package main

import (
	"context"
	"database/sql"
	"errors"

	"github.com/websonic/websonic/runtime/internal/testmodules/bench/handler"
	"github.com/websonic/websonic/sdk"
)

func init() { sdk.Handle(handler.New("/wasm", store{}, sdk.Render)) }

// main is never called in a wasm reactor; the Go toolchain wants it.
func main() {}

// store reads items through the SDK's database/sql driver.
type store struct{}

var _ handler.Store = store{}

func (store) Item(ctx context.Context, id int64) (handler.Item, error) {
	var it handler.Item
	err := sdk.DB().QueryRowContext(ctx, handler.ItemQuery, id).
		Scan(&it.ID, &it.Name, &it.Description, &it.PriceCents, &it.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return it, handler.ErrNotFound
	}
	return it, err
}

func (store) Items(ctx context.Context, after int64) ([]handler.Item, error) {
	rows, err := sdk.DB().QueryContext(ctx, handler.ItemsQuery, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return handler.ReadItems(rows)
}
