package admin

import "context"

// moduleExtras is what the module detail page shows below the module's
// lifecycle (its enable/disable toggle, settings, commands and admin
// pages): the data of the "module-extras" partial template.
func (a *Area) moduleExtras(ctx context.Context, name string) any { return nil }

// moduleDisabled says whether the owner has disabled the module.
func (a *Area) moduleDisabled(ctx context.Context, name string) bool { return false }
