package integration

import "testing"

func TestTransition(t *testing.T) {
	for _, c := range []struct {
		name                               string
		exists, oldDeleted, counted, isDel bool
		change                             string
		delta                              int64
	}{
		{"new, live", false, false, true, false, ChangeCreated, 1},
		{"new, first seen deleted", false, false, true, true, ChangeCreated, 0},
		{"live, edited", true, false, true, false, ChangeUpdated, 0},
		{"live, deleted", true, false, true, true, ChangeDeleted, -1},
		{"deleted, back", true, true, true, false, ChangeUpdated, 1},
		{"deleted, still deleted", true, true, true, true, ChangeUpdated, 0},
		{"older format, live", true, false, false, false, ChangeUpdated, 1},
		{"older format, deleted now", true, false, false, true, ChangeDeleted, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			change, delta := Transition(c.exists, c.oldDeleted, c.counted, c.isDel)
			if change != c.change || delta != c.delta {
				t.Fatalf("got %s %+d, want %s %+d", change, delta, c.change, c.delta)
			}
		})
	}
}
