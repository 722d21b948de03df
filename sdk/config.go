package sdk

import (
	"encoding/json"
	"fmt"

	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// Config decodes the module's configuration (the site owner's values for
// the manifest's config_schema, defaults filled in) into v, a pointer to a
// struct with json tags or a map.
func Config(v any) error {
	raw, err := hostcall.Config()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("sdk: decode config: %w", err)
	}
	return nil
}
