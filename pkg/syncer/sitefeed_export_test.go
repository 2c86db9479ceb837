package syncer

// ForgetSites empties the integrations' sites kept by the process, as a
// fresh Lambda starts.
func ForgetSites() {
	siteRefsMu.Lock()
	defer siteRefsMu.Unlock()
	clear(siteRefs)
}
