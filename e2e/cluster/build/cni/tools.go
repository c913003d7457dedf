//go:build tools

// Package tools names the binaries build.sh builds, so `go mod tidy` keeps their dependencies
// in go.mod and go.sum. It is never compiled (the tools build tag is never set).
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
)
