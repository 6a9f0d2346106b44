// Package docs holds tests that keep the repository's documents true to the code: a
// document that names every one of something (fuzz targets, for one) is checked against
// the code that has them. It has no code of its own.
package docs
