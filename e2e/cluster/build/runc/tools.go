//go:build tools

// Package tools names the binary build.sh builds, so `go mod tidy` keeps its dependencies
// in go.mod and go.sum. It is never compiled (the tools build tag is never set).
package tools

import (
	_ "github.com/opencontainers/runc"
)
