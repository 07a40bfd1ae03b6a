// Package storagetest is the conformance suite every storage engine runs:
// one set of tests, written against storage.Log and storage.Catalog only,
// that checks the contract documented in package storage, including crash
// safety under kill -9 for engines that keep data on disk.
//
// An engine's test file calls Run with a function that opens the engine on
// a directory:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T, dir string) storagetest.Engine {
//			e, err := myengine.Open(dir)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return e
//		})
//	}
//
// The crash test re-executes the running test binary, selecting the same
// test by name, with an environment variable that turns that child into a
// writer; the parent kills it with SIGKILL and checks what survived. The
// open function must therefore work in a fresh process given only dir.
package storagetest
