module github.com/macaron-contrib/sockets

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	gopkg.in/macaron.v1 v1.4.0
)

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	github.com/go-macaron/inject v0.0.0-20160627170012-d8a0b8677191 // indirect
	github.com/unknwon/com v0.0.0-20190804042917-757f69c95f3e // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/crypto v0.0.0-20190701094942-4def268fd1a4 // indirect
	golang.org/x/sys v0.13.0 // indirect
	gopkg.in/ini.v1 v1.46.0 // indirect
)
