/** Entry point of the stand-in `pulumi-resource-command` plugin (see commandProvider.ts and plugins/). */
import { main } from "@pulumi/pulumi/provider";
import { commandProvider } from "./commandProvider";

main(commandProvider, process.argv.slice(2));
