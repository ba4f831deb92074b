package main

func init() {
	extraCommands["schema"] = schemaCommand
	extraCommands["exporter"] = exporterCommand
}
