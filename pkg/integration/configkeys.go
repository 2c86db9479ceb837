package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// ContentTypesKey is where a release before content types moved out of
// config kept them; it is read-only through the API.
const ContentTypesKey = "content_types"

// MaxConfigDepth is how deeply config values may nest (the config object
// itself is level 1).
const MaxConfigDepth = 10

// maxExactInteger is 2^53: beyond it a JSON number no longer survives a
// round trip through a float64, so it is refused rather than rounded.
const maxExactInteger = 1 << 53

// checkConfigKeys checks the keys a request sets (keys) of config against
// what p declares: an undeclared key is refused, a declared one must have
// its declared shape. A key set to null (removed) always passes, so a key
// no longer declared can be removed.
func checkConfigKeys(fields map[string]string, p Platform, config map[string]any, keys []string) {
	declared := make(map[string]ConfigKey, len(p.Config))
	for _, k := range p.Config {
		declared[k.Name] = k
	}
	for _, name := range keys {
		v, present := config[name]
		if !present || v == nil {
			continue
		}
		at := "config." + name
		if name == ContentTypesKey {
			fields[at] = "is read-only: the site's plugin or a metadata sync sets it; read it at GET /v1/integrations/{id}/content_types"
			continue
		}
		k, ok := declared[name]
		if !ok {
			fields[at] = unknownKey(p)
			continue
		}
		if msg := checkConfigShape(v, 2); msg != "" {
			fields[at] = msg
			continue
		}
		if msg := checkConfigValue(k, v); msg != "" {
			fields[at] = msg
		}
	}
}

func unknownKey(p Platform) string {
	if len(p.Config) == 0 {
		return fmt.Sprintf("unknown key: %s takes no config keys", p.Name)
	}
	return fmt.Sprintf("unknown key: %s takes %s", p.Name, strings.Join(configNames(p), ", "))
}

func configNames(p Platform) []string {
	names := make([]string, 0, len(p.Config))
	for _, k := range p.Config {
		if k.Name != ContentTypesKey {
			names = append(names, k.Name)
		}
	}
	return names
}

// checkConfigShape refuses what JSON cannot carry faithfully: integers
// beyond 2^53 and nesting deeper than MaxConfigDepth. depth is v's level.
func checkConfigShape(v any, depth int) string {
	if depth > MaxConfigDepth {
		return fmt.Sprintf("nests too deeply: config may be at most %d levels deep", MaxConfigDepth)
	}
	switch x := v.(type) {
	case json.Number:
		if !exactNumber(x) {
			return "has an integer beyond 2^53 (9007199254740992), which JSON clients round; send it as a string"
		}
	case map[string]any:
		for _, e := range x {
			if msg := checkConfigShape(e, depth+1); msg != "" {
				return msg
			}
		}
	case []any:
		for _, e := range x {
			if msg := checkConfigShape(e, depth+1); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// exactNumber reports whether n, if an integer, is within ±2^53. Plain
// integers are compared exactly; a number written with a fraction or an
// exponent is read as a float64, which is quick whatever its exponent
// (big.Rat would spend seconds expanding 1e-999999).
func exactNumber(n json.Number) bool {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		i, ok := new(big.Int).SetString(s, 10)
		return ok && i.CmpAbs(big.NewInt(maxExactInteger)) <= 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false // beyond float64's range
	}
	if f != math.Trunc(f) {
		return true // not an integer
	}
	// A whole number at 2^53 may have been rounded from beyond it.
	return math.Abs(f) < maxExactInteger
}

func checkConfigValue(k ConfigKey, v any) string {
	switch k.Type {
	case ConfigString:
		s, ok := v.(string)
		switch {
		case !ok:
			return "must be a string"
		case len(k.Enum) > 0 && !contains(k.Enum, s):
			return "must be one of " + strings.Join(k.Enum, ", ")
		case k.Pattern != nil && !k.Pattern.MatchString(s):
			return "must match " + k.Pattern.String()
		case k.Format == ConfigFormatBCP47:
			if _, err := language.Parse(s); err != nil || s == "" {
				return fmt.Sprintf("must be a BCP 47 language tag such as en or pt-BR, got %q", s)
			}
		}
	case ConfigInteger:
		f, ok := number(v)
		if !ok || f != math.Trunc(f) || math.IsInf(f, 0) {
			return "must be an integer" + bounds(k)
		}
		if (k.Min != nil && f < float64(*k.Min)) || (k.Max != nil && f > float64(*k.Max)) {
			return "must be an integer" + bounds(k)
		}
	case ConfigBoolean:
		if _, ok := v.(bool); !ok {
			return "must be true or false"
		}
	case ConfigObject:
		if _, ok := v.(map[string]any); !ok {
			return "must be an object"
		}
	case ConfigArray:
		items, ok := v.([]any)
		if !ok {
			if k.Items == ConfigString {
				return "must be an array of strings"
			}
			return "must be an array"
		}
		if k.Items == ConfigString {
			for i, e := range items {
				if s, ok := e.(string); !ok || s == "" {
					return fmt.Sprintf("must be an array of strings: item %d is not a non-empty string", i)
				}
			}
		}
	}
	return ""
}

// ConfigWarning is a stored config key the platform no longer declares:
// it is kept and returned until removed.
type ConfigWarning struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ConfigWarnings lists it's stored config keys that its platform does not
// declare, sorted by key.
func ConfigWarnings(c Catalog, it *Integration) []ConfigWarning {
	out := []ConfigWarning{}
	if c == nil {
		return out
	}
	p, ok := c.Platform(it.Platform)
	if !ok {
		return out
	}
	declared := map[string]bool{}
	for _, k := range p.Config {
		declared[k.Name] = true
	}
	keys := keysOf(it.Config)
	sort.Strings(keys)
	for _, name := range keys {
		if declared[name] && name != ContentTypesKey {
			continue
		}
		out = append(out, ConfigWarning{
			Field:   "config." + name,
			Message: fmt.Sprintf("%s is not a %s setting and has no effect; remove it with PATCH {\"config\": {\"%s\": null}}", name, p.Name, name),
		})
	}
	return out
}

// LiftContentTypes moves content types an earlier release kept in
// config.content_types to their own place. Stores call it on every
// integration they read, so both layouts read the same.
func LiftContentTypes(it *Integration) {
	legacy, ok := it.Config[ContentTypesKey]
	if !ok {
		return
	}
	if m, isMap := legacy.(map[string]any); isMap && it.ContentTypes == nil {
		it.ContentTypes = m
	}
	delete(it.Config, ContentTypesKey)
}

func bounds(k ConfigKey) string {
	switch {
	case k.Min != nil && k.Max != nil:
		return fmt.Sprintf(" between %d and %d", *k.Min, *k.Max)
	case k.Min != nil:
		return fmt.Sprintf(" of at least %d", *k.Min)
	case k.Max != nil:
		return fmt.Sprintf(" of at most %d", *k.Max)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keysOf(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// number reads a decoded JSON number, or an integer set by Go code.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
