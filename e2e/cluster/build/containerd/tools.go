//go:build tools

// Package tools names the binaries build.sh builds, so `go mod tidy` keeps their dependencies
// in go.mod and go.sum. It is never compiled (the tools build tag is never set).
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
