package embedded

// SkipSync makes the store's commits skip flushing to disk: for tests
// and benchmarks that write at volume, where the disk's flush and not
// Joinery would be measured. A crash of the machine may then lose the
// last commits: never for data that is kept. Call it before the store is
// shared.
func (s *Store) SkipSync() { s.db.NoSync = true }
