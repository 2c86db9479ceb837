package syncer

// Count keys name an event's occurrence for the health buckets, which
// count each key once: a job redelivered after it logged a failure logs
// it again under a new event id, and the same key.

// failedItemKey is an item's failure within a run: however often the run
// reads the item, it failed once.
func failedItemKey(runID, model, item string) string {
	if item == "" {
		return "" // unnamed: counted as its event
	}
	return "item_failed/" + runID + "/" + model + "/" + item
}
