//go:build race

package syncer_test

// raceDetector: this build runs under the race detector.
const raceDetector = true
