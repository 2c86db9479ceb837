package readmetest

import (
	"reflect"
	"testing"
)

// The README's commands are split as a shell would run them, and each
// `# →` status goes to the command just before it.
func TestGroups(t *testing.T) {
	text := `export TOKEN=$(go run ./functions/local token --account dev-account --role editor)   # the site's token
ID=$(curl -s -X POST $API/v1/x -H "It's: fine" \
  -d '{
    "a": "b # not a comment"
  }' | jq -r .id)
curl -s $API/v1/x/$ID
# → 200, or 412 {"error": …}
curl -s $API/v1/y |
  jq .
# → {"items": [], "n": 404}

curl -s -X DELETE $API/v1/x/$ID   # → 204
`
	got := groups(text)
	want := []group{
		{command: "export TOKEN=$(go run ./functions/local token --account dev-account --role editor)   # the site's token"},
		{command: "ID=$(curl -s -X POST $API/v1/x -H \"It's: fine\" \\\n  -d '{\n    \"a\": \"b # not a comment\"\n  }' | jq -r .id)"},
		{command: "curl -s $API/v1/x/$ID", statuses: []string{"200", "412"}},
		{command: "curl -s $API/v1/y |\n  jq ."},
		{command: "curl -s -X DELETE $API/v1/x/$ID   # → 204"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups:\n got %q\nwant %q", got, want)
	}
}
