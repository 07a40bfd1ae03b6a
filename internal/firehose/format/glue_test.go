package format

import (
	"errors"
	"fmt"
	"testing"
)

func TestColumnsFromGlue(t *testing.T) {
	want := "[{id bigint} {tags array<string>}]"
	for name, doc := range map[string]string{
		"get-table":  `{"Table":{"Name":"t","DatabaseName":"db","StorageDescriptor":{"Columns":[{"Name":"id","Type":"bigint"},{"Name":"tags","Type":"array<string>","Comment":"c"}]},"PartitionKeys":[{"Name":"dt","Type":"string"}]}}`,
		"TableInput": `{"Name":"t","StorageDescriptor":{"Columns":[{"Name":"id","Type":"bigint"},{"Name":"tags","Type":"array<string>"}]}}`,
		"list":       `[{"Name":"id","Type":"bigint"},{"Name":"tags","Type":"array<string>"}]`,
	} {
		cols, err := ColumnsFromGlue([]byte(doc))
		if err != nil || fmt.Sprint(cols) != want {
			t.Errorf("%s: %v, %v; want %s", name, cols, err, want)
		}
	}
	for _, bad := range []string{`{`, `{"Table":{}}`, `[]`} {
		if _, err := ColumnsFromGlue([]byte(bad)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", bad, err)
		}
	}
}
