package webinput

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// CheckJSONKeys refuses JSON that two parsers could read differently:
// an object, at any depth, with the same key twice (encoding/json keeps the
// last, other parsers the first or fail), or a key of the top-level object
// that differs only in case from a field of v but is not its name
// (encoding/json matches struct fields case-insensitively, with Unicode
// folding, so "SIGNATURE" or "ſignature" would fill the signature field).
// v is a pointer to the struct data decodes into, or nil. data must be
// valid JSON (check it first, with json.Valid or by decoding it); on
// invalid input the answer is meaningless but CheckJSONKeys does not fail
// badly. It copies no string values, so a PIN in data stays only in data.
func CheckJSONKeys(data []byte, v any) error {
	var known []string
	if v != nil {
		known = jsonFields(v)
	}
	type object struct {
		keys []string
		set  map[string]bool // when keys grows long
	}
	var stack []*object // nil entries are arrays
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, &object{})
			expectKey = true
		case '[':
			stack = append(stack, nil)
			expectKey = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1] != nil
		case '"':
			start, escaped := i+1, false
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					escaped = true
					i++
				}
			}
			if i >= len(data) {
				return errors.New("unterminated string")
			}
			if !expectKey || len(stack) == 0 {
				continue
			}
			expectKey = false
			o := stack[len(stack)-1]
			key, err := jsonKey(data[start:i], escaped)
			if err != nil {
				return err
			}
			if o.set != nil && o.set[key] || o.set == nil && slices.Contains(o.keys, key) {
				return fmt.Errorf("the key %.40q appears twice in an object", key)
			}
			if o.set == nil && len(o.keys) == 16 {
				o.set = make(map[string]bool, 32)
				for _, k := range o.keys {
					o.set[k] = true
				}
			}
			if o.set != nil {
				o.set[key] = true
			} else {
				o.keys = append(o.keys, key)
			}
			if len(stack) == 1 {
				for _, k := range known {
					if key != k && strings.EqualFold(key, k) {
						return fmt.Errorf("the key %.40q is not %q: keys are case-sensitive", key, k)
					}
				}
			}
		}
	}
	return nil
}

// jsonKey is the text of a key: its bytes, or decoded when it has escapes
// or non-ASCII bytes (json.Unmarshal turns invalid UTF-8 into U+FFFD, so
// two differently broken keys are the same key to it).
func jsonKey(raw []byte, escaped bool) (string, error) {
	if !escaped && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s); err != nil {
		return "", errors.New("an object key is not a valid JSON string")
	}
	return s, nil
}

var fieldNames sync.Map // reflect.Type -> []string

// jsonFields lists the JSON names of the fields of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	if names, ok := fieldNames.Load(t); ok {
		return names.([]string)
	}
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			names = append(names, name)
		}
	}
	fieldNames.Store(t, names)
	return names
}
