# Sourced by setup.sh and test.sh: puts a Go that builds the project on
# PATH. The project needs the Go of go.mod's `go` line or newer. A Go of
# 1.21 or newer fetches that toolchain itself (GOTOOLCHAIN); an older or
# absent one (Debian 12's golang-go is 1.19) is replaced by the official
# toolchain from the Go module proxy (the module golang.org/toolchain, as
# the go command itself fetches it), kept in /usr/local/lib/nixcloud-container.
go_toolchain=1.22.12
go_dir=/usr/local/lib/nixcloud-container/go$go_toolchain
export PATH=$PATH:/usr/local/go/bin:$go_dir/bin

# go_minor prints the minor version of the go on PATH (0 when none).
go_minor() {
  command -v go >/dev/null || { echo 0; return; }
  go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p' | grep . || echo 0
}

need_minor=$(sed -n 's/^go 1\.\([0-9]*\).*/\1/p' go.mod)
have_minor=$(go_minor)
if [ "$have_minor" -ge "$need_minor" ]; then
  :
elif [ "$have_minor" -ge 21 ]; then
  export GOTOOLCHAIN=go$go_toolchain+auto
else
  if [ ! -x "$go_dir/bin/go" ]; then
    case "$(uname -m)" in
      x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;;
    esac
    proxy=${GOPROXY:-https://proxy.golang.org}
    proxy=${proxy%%,*}
    echo "go.sh: fetching Go $go_toolchain from $proxy" >&2
    tmp=$(mktemp -d)
    curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$go_toolchain.linux-$arch.zip"
    busybox unzip -q "$tmp/go.zip" -d "$tmp"
    mkdir -p "$(dirname "$go_dir")"
    rm -rf "$go_dir"
    mv "$tmp/golang.org/toolchain@v0.0.1-go$go_toolchain.linux-$arch" "$go_dir"
    chmod -R a+rX "$go_dir"
    chmod a+x "$go_dir"/bin/* "$go_dir"/pkg/tool/*/*
    rm -rf "$tmp"
  fi
  export PATH=$go_dir/bin:$PATH
  export GOTOOLCHAIN=local
fi
