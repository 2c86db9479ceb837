package embedded

import (
	"context"
	"sync"
	"time"
)

// endpointSlots are the endpoints' delivery slots: leases on attempts in
// flight, kept in memory. One process holds the store's file, so its
// memory sees every attempt, and a lease dies with the attempts it
// covered; a write to the file for each would cost two commits per
// delivery. (Data files of earlier releases kept them in an
// endpoint_slots bucket, now unread.)
type endpointSlots struct {
	mu   sync.Mutex
	held map[string]map[string]time.Time // endpoint → holder → until
}

// TakeEndpointSlot implements integration.NotifyStore.
func (s *Store) TakeEndpointSlot(_ context.Context, endpointID, holder string, slots int, now, until time.Time) (bool, time.Time, error) {
	es := &s.slots
	es.mu.Lock()
	defer es.mu.Unlock()
	held := es.held[endpointID]
	busy := 0
	var freeAt time.Time
	for h, t := range held {
		switch {
		case !t.After(now):
			delete(held, h)
		case h != holder:
			busy++
			if freeAt.IsZero() || t.Before(freeAt) {
				freeAt = t
			}
		}
	}
	if busy >= slots {
		return false, freeAt, nil
	}
	if held == nil {
		if es.held == nil {
			es.held = map[string]map[string]time.Time{}
		}
		held = map[string]time.Time{}
		es.held[endpointID] = held
	}
	held[holder] = until
	return true, time.Time{}, nil
}

// ReleaseEndpointSlot implements integration.NotifyStore.
func (s *Store) ReleaseEndpointSlot(_ context.Context, endpointID, holder string) error {
	es := &s.slots
	es.mu.Lock()
	defer es.mu.Unlock()
	delete(es.held[endpointID], holder)
	if len(es.held[endpointID]) == 0 {
		delete(es.held, endpointID)
	}
	return nil
}
