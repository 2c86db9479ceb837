package integration

import (
	"fmt"
	"math"
	"strings"
)

// checkConfigKeys checks the values of config's keys named in keys against
// what p declares of them. Undeclared keys are the host's own and pass.
func checkConfigKeys(fields map[string]string, p Platform, config map[string]any, keys []string) {
	if len(p.Config) == 0 || len(keys) == 0 {
		return
	}
	declared := make(map[string]ConfigKey, len(p.Config))
	for _, k := range p.Config {
		declared[k.Name] = k
	}
	for _, name := range keys {
		k, ok := declared[name]
		if !ok {
			continue
		}
		v, present := config[name]
		if !present || v == nil {
			continue
		}
		if msg := checkConfigValue(k, v); msg != "" {
			fields["config."+name] = msg
		}
	}
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
		if _, ok := v.([]any); !ok {
			return "must be an array"
		}
	}
	return ""
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
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
