package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/millrace/millrace/internal/analytics"
)

// referenceTables reads the tables --reference names, each with the
// columns --reference-columns gives it: CSV for a .csv file, else JSON
// values one after another.
func referenceTables(refs, columns []string) ([]analytics.Table, error) {
	cols := map[string]string{}
	for _, c := range columns {
		name, spec, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--reference-columns %q is not NAME=COLUMNS", c)
		}
		cols[name] = spec
	}
	var tables []analytics.Table
	for _, r := range refs {
		name, path, ok := strings.Cut(r, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--reference %q is not NAME=PATH", r)
		}
		spec, ok := cols[name]
		if !ok {
			return nil, fmt.Errorf("reference table %s needs its columns: --reference-columns %s='name TYPE [path], ...'", name, name)
		}
		delete(cols, name)
		format := analytics.FormatJSON
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = analytics.FormatCSV
		}
		cs, err := parseColumns(spec, format)
		if err != nil {
			return nil, fmt.Errorf("reference table %s: %w", name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reference table %s: %w", name, err)
		}
		t, err := analytics.LoadTable(name, analytics.Schema{Format: format, Columns: cs}, data)
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	for name := range cols {
		return nil, fmt.Errorf("--reference-columns names %s, which no --reference names", name)
	}
	return tables, nil
}
