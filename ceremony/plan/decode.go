package plan

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a plan, at a line and a dotted path
// (steps[2].init.root_expiry; list items count from 1, as steps do).
type Problem struct {
	Line int
	Path string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is a plan that cannot be used: every problem found, in file order.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
	var lines []string
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	if len(lines) == 1 {
		return fmt.Sprintf("plan %s: %s", e.File, lines[0])
	}
	return fmt.Sprintf("plan %s: %d problems:\n  %s", e.File, len(lines), strings.Join(lines, "\n  "))
}

// SecretError is a plan that holds, or seems to hold, a secret: a PIN,
// PUK, passphrase, password or private key. Plans are printed, read aloud
// and kept with the ceremony's records; secrets are asked at the ceremony.
type SecretError struct {
	File     string
	Problems []Problem
}

func (e *SecretError) Error() string {
	var lines []string
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("plan %s holds a secret (%s): a plan never carries PINs, PUKs, passphrases or private keys; they are asked at the ceremony",
		e.File, strings.Join(lines, "; "))
}

// decoder turns a YAML node tree into the plan's types strictly: unknown
// fields, wrong types, fields given twice and missing required values are
// problems, each with its line and path.
type decoder struct {
	problems []Problem
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// field describes one struct field: its YAML name and whether it must be
// given.
type field struct {
	name     string
	required bool
	index    int
}

func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		out = append(out, field{name: name, required: opts == "required", index: i})
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
}

// decode fills v (a pointer's element) from n.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "aliases are not allowed in a plan: write each value out")
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping of names, got %s", kindName(n))
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "" {
				d.fail(k, path, "names must be plain words")
				continue
			}
			if seen[k.Value] {
				d.fail(k, join(path, k.Value), "given twice")
				continue
			}
			seen[k.Value] = true
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, join(path, k.Value), e)
			v.SetMapIndex(reflect.ValueOf(k.Value), e)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i+1), s.Index(i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.fail(n, path, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "expected a whole number, got %s", kindName(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 10, 32)
		if err != nil {
			d.fail(n, path, "expected a whole number, got %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "expected a serial number, got %s", kindName(n))
			return
		}
		i, err := strconv.ParseUint(n.Value, 10, 32)
		if err != nil || i == 0 {
			d.fail(n, path, "expected a serial number, got %q", n.Value)
			return
		}
		v.SetUint(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(n, path, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(n.Value == "true")
	default:
		panic("plan: cannot decode into " + v.Type().String())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	byName := map[string]field{}
	var names []string
	for _, f := range fields {
		byName[f.name] = f
		names = append(names, f.name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := byName[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			d.fail(k, join(path, k.Value), "unknown field (known here: %s)", strings.Join(names, ", "))
			continue
		}
		if seen[f.name] {
			d.fail(k, join(path, f.name), "given twice")
			continue
		}
		seen[f.name] = true
		if val.Tag == "!!null" && val.Kind == yaml.ScalarNode {
			d.fail(val, join(path, f.name), "no value given")
			continue
		}
		d.decode(val, join(path, f.name), v.Field(f.index))
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			d.fail(n, join(path, f.name), "missing (required)")
		}
	}
}
