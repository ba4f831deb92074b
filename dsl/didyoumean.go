package dsl

import "github.com/agext/levenshtein"

// DidYouMean returns the candidate closest to given, or "" when none is close
// enough to be a likely typo.
func DidYouMean(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
