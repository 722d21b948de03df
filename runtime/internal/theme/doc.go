// Package theme is what a site theme is and how the site renders with
// one: a theme is data, never code — theme.json, html/template files
// (layout.html, pages/<page>.html, partials/*.html), assets (styles,
// images, fonts; no scripts) and optional message catalogues
// (locales/<lang>.json). templates/README.md is the theme author's guide.
//
// Load reads a theme from any fs.FS and checks all of it before anything
// uses it: file kinds, paths and sizes, theme.json (strictly), the
// catalogues, every template parsed together with the pages it overrides
// or the built-in theme's page contents, the script-free markup, every
// asset a template (asset "…") or stylesheet (url(…)) refers to, and, by
// rendering every page with sample data (visitor and signed in, errors,
// English and French), that each page renders and shows what every page
// must: the page's language, the site's name, logo and accent colour, a
// <main> landmark, the content. A refusal wraps ErrTheme and names the
// file (and line). Validate is Load for the distribution's hook.
//
// A loaded Theme is immutable and safe for concurrent use: its templates
// are parsed once, and Render only executes them. Its assets are served
// under AssetRoot/<name>/<key>/, where the key (version and digest of the
// theme's files) makes every URL immutable.
//
// The built-in theme (Builtin, embedded from builtin/) is a new site's,
// and its page contents are every theme's defaults. The themes of package
// templates are bundled with the runtime. A Source lists themes and opens
// their files: Bundled for both; Combine puts the registry's installed
// themes in front.
package theme
