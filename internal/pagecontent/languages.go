package pagecontent

import (
	"slices"
	"strings"

	"github.com/synqhq/synq/internal/notion"
)

// languageAliases maps the info strings people write after ``` to
// Notion's code language names. Names Notion knows map to themselves.
var languageAliases = map[string]string{
	"sh": "shell", "zsh": "shell", "ksh": "shell", "fish": "shell", "console": "shell", "shell-session": "shell",
	"shellsession": "shell", "terminal": "shell",
	"js": "javascript", "jsx": "javascript", "mjs": "javascript", "cjs": "javascript", "node": "javascript",
	"ts": "typescript", "tsx": "typescript", "mts": "typescript",
	"py": "python", "python3": "python", "py3": "python", "ipython": "python",
	"golang": "go", "rb": "ruby", "rs": "rust", "kt": "kotlin", "kts": "kotlin",
	"yml": "yaml", "cpp": "c++", "cxx": "c++", "cc": "c++", "hpp": "c++", "h": "c", "objc": "objective-c",
	"objectivec": "objective-c", "cs": "c#", "csharp": "c#", "fs": "f#", "fsharp": "f#",
	"dockerfile": "docker", "make": "makefile", "mk": "makefile", "md": "markdown",
	"ps": "powershell", "ps1": "powershell", "pwsh": "powershell", "tf": "hcl", "terraform": "hcl",
	"proto": "protobuf", "tex": "latex", "el": "lisp", "elisp": "lisp", "emacs-lisp": "lisp", "cl": "lisp",
	"clj": "clojure", "cljs": "clojure", "ex": "elixir", "exs": "elixir", "erl": "erlang", "hs": "haskell",
	"ml": "ocaml", "pl": "perl", "vb": "visual basic", "vbnet": "vb.net", "sol": "solidity",
	"wasm": "webassembly", "wat": "webassembly", "htm": "html", "xhtml": "html", "svg": "xml",
	"patch": "diff", "udiff": "diff", "jsonc": "json", "json5": "json", "ll": "llvm ir", "llvm": "llvm ir",
	"jl": "julia", "m": "matlab", "coffee": "coffeescript", "ls": "livescript", "res": "reason", "re": "reason",
	"sv": "verilog", "v": "verilog", "vhd": "vhdl", "asm": "assembly", "nasm": "assembly", "gql": "graphql",
	"gradle": "groovy", "ino": "arduino", "feature": "gherkin", "cucumber": "gherkin", "mmd": "mermaid",
	"postgres": "sql", "postgresql": "sql", "mysql": "sql", "sqlite": "sql", "plsql": "sql", "psql": "sql",
	"text": "plain text", "txt": "plain text", "plaintext": "plain text", "plain": "plain text", "none": "plain text",
}

// Language maps a Markdown info string (```go, ```JS, ```c++ {.x}) to one
// of Notion's code languages, "plain text" when Notion has no such name.
func Language(info string) string {
	l := strings.ToLower(strings.TrimSpace(info))
	if i := strings.IndexAny(l, " \t{,"); i >= 0 {
		l = l[:i]
	}
	l = strings.TrimPrefix(l, "language-")
	if slices.Contains(notion.CodeLanguages, l) {
		return l
	}
	if n, ok := languageAliases[l]; ok {
		return n
	}
	return "plain text"
}
