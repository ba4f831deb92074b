package main

func init() {
	extraCommands["schema"] = schemaCommand
}
