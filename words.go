// Counts in words, for the lines the listings and the master print.

package main

import "fmt"

// plural is "s" for any count but 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// howMany says how many of noun: "1 goroutine", "2 goroutines".
func howMany(n int, noun string) string {
	return fmt.Sprintf("%d %s%s", n, noun, plural(n))
}
