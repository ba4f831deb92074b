package testenv

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopSharedClickHouse()
	os.Exit(code)
}
