// Package deploy checks the repository's deployment files
// (docker-compose.yml, compose.prod.yml, compose.worker.yml, Dockerfile,
// .dockerignore) without a Docker engine: the compose
// file is loaded and validated by compose-go, the parser docker compose
// itself uses, and the Dockerfile is checked against the binaries and the
// reproducibility settings the compose file relies on.
package deploy
