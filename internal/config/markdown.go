package config

import (
	"fmt"
	"strings"
)

// MarkdownTable returns the configuration reference as a Markdown table:
// one row per setting with its flag, environment variable, config-file key,
// default and meaning, plus the --config row. The README and
// docs/configuration.md embed it; a test keeps them in step.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Flag | Environment variable | Config key | Type | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| `--%s` | `%s` | — | path | — | %s |\n", ConfigFlag, ConfigEnv,
		"Config file to read (TOML or YAML, chosen by extension: .toml, .yaml, .yml).")
	for _, s := range settings {
		def := s.Default()
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s | %s | %s |\n",
			s.Flag(), s.Env(), s.Name, s.Type(), def, s.Help)
	}
	return b.String()
}
