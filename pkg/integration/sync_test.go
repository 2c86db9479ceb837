package integration

import (
	"testing"
	"time"
)

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

func TestSupersede(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	var zero time.Time
	for _, c := range []struct {
		name                 string
		storedMod, storedChg time.Time
		mod, chg             time.Time
		stale                bool
		stamp                time.Time
	}{
		{"newer, stamped later", sec(1), sec(10), sec(2), sec(11), false, sec(11)},
		{"older on the platform", sec(2), sec(10), sec(1), sec(11), true, sec(11)},
		{"same second, read later", sec(1), sec(10), sec(1), sec(11), false, sec(11)},
		{"same second, read earlier", sec(1), sec(10), sec(1), sec(9), true, sec(9)},
		{"newer, stamped earlier: just after the stored stamp", sec(1), sec(10), sec(2), sec(9), false, sec(10).Add(time.Microsecond)},
		{"newer, same stamp", sec(1), sec(10), sec(2), sec(10), false, sec(10).Add(time.Microsecond)},
		{"no time stored, any time is newer", zero, sec(10), sec(1), sec(11), false, sec(11)},
		{"no time given over a stored one", sec(1), sec(10), zero, sec(11), true, sec(11)},
		{"no times, read later", zero, sec(10), zero, sec(11), false, sec(11)},
		{"no times, read earlier", zero, sec(10), zero, sec(9), true, sec(9)},
	} {
		t.Run(c.name, func(t *testing.T) {
			stale, stamp := Supersede(c.storedMod, c.storedChg, c.mod, c.chg)
			if stale != c.stale || (!stale && !stamp.Equal(c.stamp)) {
				t.Fatalf("got stale %v stamp %v, want %v %v", stale, stamp, c.stale, c.stamp)
			}
		})
	}
}
