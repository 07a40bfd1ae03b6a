package format

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ColumnsFromGlue reads a Glue table's columns from the JSON Glue itself
// uses: the output of `aws glue get-table` ({"Table": {...}}), a
// TableInput ({"StorageDescriptor": {"Columns": [...]}}), or a bare column
// list ([{"Name": "id", "Type": "bigint"}, ...]). Partition keys are not
// columns of the file (they are in the object's prefix) and are left out.
func ColumnsFromGlue(data []byte) ([]Column, error) {
	type glueColumn struct {
		Name string `json:"Name"`
		Type string `json:"Type"`
	}
	type table struct {
		StorageDescriptor *struct {
			Columns []glueColumn `json:"Columns"`
		} `json:"StorageDescriptor"`
	}
	var list []glueColumn
	if err := json.Unmarshal(data, &list); err != nil {
		var doc struct {
			Table *table `json:"Table"`
			table
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%w: the Glue table is not JSON: %v", ErrInvalidConfig, err)
		}
		t := &doc.table
		if doc.Table != nil {
			t = doc.Table
		}
		if t.StorageDescriptor == nil {
			return nil, fmt.Errorf("%w: the Glue table has no StorageDescriptor.Columns", ErrInvalidConfig)
		}
		list = t.StorageDescriptor.Columns
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.New("the Glue table has no columns"))
	}
	out := make([]Column, len(list))
	for i, c := range list {
		out[i] = Column{Name: c.Name, Type: c.Type}
	}
	return out, nil
}
