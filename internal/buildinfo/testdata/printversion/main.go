// Command printversion prints buildinfo.String(): the test builds it with
// and without -ldflags -X.
package main

import (
	"fmt"

	"github.com/websonic/websonic/internal/buildinfo"
)

func main() { fmt.Print(buildinfo.String()) }
