package natsjs

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestServerVersion: servers before 2.11 are refused, saying why.
func TestServerVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"2.11.0": true, "2.11.0-beta.1": true, "2.12.3": true, "2.15.2": true, "3.0.0": true, "v2.11.4": true,
		"2.10.24": false, "2.9.0": false, "1.4.1": false, "": false, "unknown": false,
	} {
		err := checkServerVersion(v)
		if (err == nil) != ok {
			t.Errorf("server %q: %v", v, err)
		}
		if err != nil && !strings.Contains(err.Error(), MinServerVersion) {
			t.Errorf("server %q: %v does not name %s", v, err, MinServerVersion)
		}
		if !ok && v != "" && v != "unknown" && !errors.Is(err, ErrServerTooOld) {
			t.Errorf("server %q: %v does not wrap ErrServerTooOld", v, err)
		}
	}
}
