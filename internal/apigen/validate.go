package main

import (
	"fmt"
)

// validate writes the Validate method of an input structure and the
// validate method that nested structures share. Members are checked in the
// order AWS reports them: by wire name, depth first, each member's
// constraints in AWS's order (null, pattern, lengths, enum; ranges).
func (g *generator) validate(name string, s *shape) error {
	tn := exported(name)
	if g.isOperationInput(name) {
		g.p("// Validate checks the model's constraints and returns a ValidationException")
		g.p("// worded as AWS words it, or nil.")
		g.p("func (s *%s) Validate() error {", tn)
		g.p("var v awsproto.Validator")
		g.p("s.validate(&v, nil)")
		g.p("return v.Err()")
		g.p("}")
		g.p("")
	}
	g.p("func (s *%s) validate(v *awsproto.Validator, path *awsproto.Path) {", tn)
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	for _, mn := range g.members(s) {
		ref := s.Members[mn]
		ms, err := g.shape(ref.Shape)
		if err != nil {
			return err
		}
		field := "s." + exported(mn)
		body, err := g.checks(field, ref.Shape, ms)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", name, mn, err)
		}
		if !required[mn] && len(body) == 0 {
			continue
		}
		g.p("if v.Full() { return }")
		g.p("{")
		g.p("p := path.Member(%q)", mn)
		if required[mn] {
			g.p("if v.Required(p, %s == nil) {", field)
		} else {
			g.p("if %s != nil {", field)
		}
		if len(body) == 0 {
			g.p("_ = p")
		}
		for _, line := range body {
			g.p("%s", line)
		}
		g.p("}")
		g.p("}")
	}
	g.p("}")
	g.p("")
	return nil
}

func (g *generator) isOperationInput(name string) bool {
	for _, op := range g.m.Operations {
		if op.Input != nil && op.Input.Shape == name {
			return true
		}
	}
	return false
}

// checks returns the statements that check a present member whose value
// is the expression field (a pointer for scalars, a slice or map otherwise)
// at path p.
func (g *generator) checks(field, shapeName string, s *shape) ([]string, error) {
	lenBounds := func() (string, string, bool, error) {
		min, err := boundExpr(string(s.Min))
		if err != nil {
			return "", "", false, err
		}
		max, err := boundExpr(string(s.Max))
		if err != nil {
			return "", "", false, err
		}
		return min, max, s.Min != "" || s.Max != "", nil
	}
	switch s.Type {
	case "string":
		if !hasStringRule(s) {
			return nil, nil
		}
		g.rules[shapeName] = true
		return []string{fmt.Sprintf("v.String(p, string(*%s), &%s)", field, ruleName(shapeName))}, nil
	case "integer", "long":
		min, max, ok, err := lenBounds()
		if err != nil || !ok {
			return nil, err
		}
		return []string{fmt.Sprintf("v.Number(p, int64(*%s), %s, %s)", field, min, max)}, nil
	case "double", "float":
		min, max, ok, err := lenBounds()
		if err != nil || !ok {
			return nil, err
		}
		return []string{fmt.Sprintf("v.Float(p, *%s, %s, %s)", field, min, max)}, nil
	case "blob":
		min, max, ok, err := lenBounds()
		if err != nil || !ok {
			return nil, err
		}
		return []string{fmt.Sprintf("awsproto.Length(v, p, int64(len(%s)), %s, %s, %s)", field, field, min, max)}, nil
	case "structure":
		return []string{fmt.Sprintf("%s.validate(v, p)", field)}, nil
	case "list":
		var out []string
		min, max, ok, err := lenBounds()
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, fmt.Sprintf("awsproto.Length(v, p, int64(len(%s)), %s, %s, %s)", field, field, min, max))
		}
		es, err := g.shape(s.Member.Shape)
		if err != nil {
			return nil, err
		}
		switch {
		case es.Type == "structure":
			out = append(out, fmt.Sprintf("for i := range %s { %s[i].validate(v, p.Elem(i)) }", field, field))
		case hasStringRule(es):
			g.rules[s.Member.Shape] = true
			out = append(out, fmt.Sprintf("awsproto.ListMembers(v, p, %s, &%s)", field, ruleName(s.Member.Shape)))
		}
		return out, nil
	case "map":
		var out []string
		min, max, ok, err := lenBounds()
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, fmt.Sprintf("awsproto.Length(v, p, int64(len(%s)), %s, %s, %s)", field, field, min, max))
		}
		ks, err := g.shape(s.Key.Shape)
		if err != nil {
			return nil, err
		}
		vs, err := g.shape(s.Value.Shape)
		if err != nil {
			return nil, err
		}
		keyRule, valRule := "nil", "nil"
		if hasStringRule(ks) {
			g.rules[s.Key.Shape] = true
			keyRule = "&" + ruleName(s.Key.Shape)
		}
		if hasStringRule(vs) {
			g.rules[s.Value.Shape] = true
			valRule = "&" + ruleName(s.Value.Shape)
		}
		if vs.Type == "string" && (keyRule != "nil" || valRule != "nil") {
			out = append(out, fmt.Sprintf("awsproto.MapEntries(v, p, %s, %s, %s)", field, keyRule, valRule))
		}
		if vs.Type == "structure" {
			// Valid maps are checked in map order, without sorting
			// their keys; AWS's order matters only for the message.
			out = append(out,
				"if !v.Full() {",
				"var t awsproto.Validator",
				fmt.Sprintf("for k, e := range %s { e.validate(&t, p.Key(string(k))); if t.Failed() { break } }", field),
				"if t.Failed() {",
				fmt.Sprintf("for _, k := range awsproto.SortedKeys(%s) { e := %s[k]; e.validate(v, p.Key(string(k))) }", field, field),
				"}",
				"}")
		}
		return out, nil
	}
	return nil, nil
}
