// Command github-executor runs the example GitHub issues sync: it copies the
// issues of the repository named by GITHUB_REPOSITORY into Notion.
//
//	GITHUB_REPOSITORY=owner/repo   required
//	GITHUB_TOKEN=…                 optional; 5,000 requests an hour instead of 60
//	GITHUB_API_URL=…               optional; GitHub Enterprise Server's API root
//
// and the executor's own settings (REDIS_URL, NOTION_API_TOKEN,
// NOTION_PARENT_PAGE_ID, …; see synq.ExecutorConfig). A configuration mistake
// exits with status 2, a failure of the executor with status 1.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/synqhq/synq"
	ghissues "github.com/synqhq/synq/examples/github"
)

func main() {
	cfg, err := configFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "github-executor:", err)
		os.Exit(2)
	}
	w := synq.NewWorker(synq.WorkerConfig{Name: "github"})
	if err := ghissues.Register(w, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "github-executor:", err)
		os.Exit(2)
	}
	if err := synq.RunExecutor(context.Background(), w); err != nil {
		fmt.Fprintln(os.Stderr, "github-executor:", err)
		os.Exit(1)
	}
}

func configFromEnv() (ghissues.Config, error) {
	repo := strings.TrimSpace(os.Getenv("GITHUB_REPOSITORY"))
	if repo == "" {
		return ghissues.Config{}, fmt.Errorf("GITHUB_REPOSITORY is not set: set it to the repository whose issues to copy, e.g. GITHUB_REPOSITORY=golang/go")
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return ghissues.Config{}, fmt.Errorf("GITHUB_REPOSITORY=%q: want owner/repo, e.g. GITHUB_REPOSITORY=golang/go", repo)
	}
	return ghissues.Config{
		Owner:   owner,
		Repo:    name,
		Token:   os.Getenv("GITHUB_TOKEN"),
		BaseURL: os.Getenv("GITHUB_API_URL"),
	}, nil
}
