// Package conformance holds one test suite per port. Every implementation —
// embedded and AWS — runs the same suite, so they cannot drift apart.
package conformance
