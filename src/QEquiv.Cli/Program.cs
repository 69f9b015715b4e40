using QEquiv.Cli;

return Cli.Run(App.Build(), args);
