package ghissues_test

import (
	"fmt"
	"os"

	"github.com/synqhq/synq"
	ghissues "github.com/synqhq/synq/examples/github"
)

// Register declares the database, pacer and sync on a worker; an executor
// main then calls synq.RunExecutor(ctx, w) (see cmd/github-executor).
func Example() {
	w := synq.NewWorker(synq.WorkerConfig{Name: "github"})
	err := ghissues.Register(w, ghissues.Config{
		Owner: "golang",
		Repo:  "go",
		Token: os.Getenv("GITHUB_TOKEN"), // optional: 5,000 requests an hour instead of 60
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("declarations are valid")
	// Output: declarations are valid
}
