package connector

// Formatted is implemented by connectors whose records changed shape
// since an earlier release. RecordFormat is the current shape of a
// model's records (0 or 1: the first). A model's incremental cursor is
// kept per format, so the first run after the format is raised lists
// that model in full once, and the records stored in the older shape
// are rewritten even where the platform's items did not change.
type Formatted interface {
	RecordFormat(model string) int
}
