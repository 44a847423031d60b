package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synqhq/synq/internal/cli"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/internal/schemagen"
)

// schemaCmd prints the Go declaration of a database people already have.
// It talks to Notion directly (not to the scheduler): the database may not
// be declared anywhere yet.
func (a *app) schemaCmd() *cobra.Command {
	var token, base, dataSource string
	cmd := &cobra.Command{
		Use:   "schema DATABASE_URL_OR_ID",
		Short: "Print the Go schema.Properties declaration of a Notion database people already have",
		Long: `schema reads a Notion database (its URL from Share → Copy link, or its id) with
the integration token and prints its columns as a Go schema.Properties
declaration, to paste into synq.DatabaseConfig{Existing: …, Schema: …}.
Declaring it as printed changes nothing in Notion; keep the columns your sync
writes (synq writes only declared columns) and drop the others. Columns synq
cannot write are listed as comments.`,
		Example: `  NOTION_API_TOKEN=secret_… ctl schema https://www.notion.so/acme/Backlog-0123456789abcdef0123456789abcdef`,
		Args:    oneArg("database URL or id", "ctl schema https://www.notion.so/acme/Backlog-0123456789abcdef0123456789abcdef"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := notion.ParseID(args[0])
			if err != nil {
				return cli.Usagef("%v", err)
			}
			if token == "" {
				return cli.Usagef("no Notion token: set NOTION_API_TOKEN (or --notion-token) to the integration's token")
			}
			c, err := notion.New(notion.Config{BaseURL: base, Token: token})
			if err != nil {
				return err
			}
			ctx, cancel := a.call(cmd.Context())
			defer cancel()
			db, err := c.GetDatabase(ctx, id)
			if notion.IsNotFound(err) {
				if _, perr := c.GetPage(ctx, id); perr == nil {
					return fmt.Errorf("%s is a page, not a database: open the database itself in Notion and copy its URL", args[0])
				}
				return fmt.Errorf("Notion has no database %s that this integration can see: share the database with the integration (••• → Connections) and check the URL: %w", id, err)
			}
			if err != nil {
				return fmt.Errorf("read database %s: %w", id, err)
			}
			var ref *notion.DataSourceRef
			for i, r := range db.DataSources {
				if dataSource == "" && len(db.DataSources) == 1 || r.Name == dataSource || strings.ReplaceAll(r.ID, "-", "") == strings.ReplaceAll(dataSource, "-", "") {
					ref = &db.DataSources[i]
				}
			}
			if ref == nil {
				names := make([]string, len(db.DataSources))
				for i, r := range db.DataSources {
					names[i] = fmt.Sprintf("%q (id %s)", r.Name, r.ID)
				}
				return cli.Usagef("database %q has data sources %s: name one with --data-source", db.PlainTitle(), strings.Join(names, ", "))
			}
			ds, err := c.GetDataSource(ctx, ref.ID)
			if err != nil {
				return fmt.Errorf("read data source %s: %w", ref.ID, err)
			}
			props, others := schemagen.FromNotion(ds)
			title := ""
			for name, p := range props {
				if p.Type == "title" {
					title = name
				}
			}
			fmt.Fprintf(a.stdout, "// Columns of the Notion database %q (data source %q), as synq declares them.\n", db.PlainTitle(), ref.Name)
			fmt.Fprintf(a.stdout, "// Use in synq.DatabaseConfig{Existing: %q, PrimaryKey: %q (or a rich-text column), Schema: …}.\n", or(db.URL, db.ID), title)
			if len(db.DataSources) > 1 {
				fmt.Fprintf(a.stdout, "// The database has several data sources: set DataSource: %q too.\n", ref.Name)
			}
			fmt.Fprintln(a.stdout, "// Declared as printed, it changes nothing in Notion; keep the columns your sync writes.")
			fmt.Fprintln(a.stdout, schemagen.Render(props, others))
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "notion-token", os.Getenv("NOTION_API_TOKEN"), "Notion integration token (env NOTION_API_TOKEN)")
	cmd.Flags().StringVar(&base, "notion-url", cli.EnvOr("NOTION_API_BASE_URL", "https://api.notion.com"), "Notion API base URL (env NOTION_API_BASE_URL; the emulator's for local work)")
	cmd.Flags().StringVar(&dataSource, "data-source", "", "the data source (name or id) of a database that has several")
	return cmd
}
