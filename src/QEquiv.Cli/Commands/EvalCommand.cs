using System.CommandLine;
using System.Globalization;
using QEquiv.Data;


namespace QEquiv.Cli.Commands;

/// <summary>`qequiv eval`: both networks on rows of inputs, with the per-row and overall largest |N − Q|.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var inputs = new Option<string>("--inputs") { Description = "CSV file: one input per row, comma-separated floats", Required = true };
        var summary = new Option<bool>("--summary") { Description = "print only the overall maximum" };
        var json = JsonOutput.Option("every row's outputs and |N − Q| and the overall maximum");
        var quiet = VerifyCommand.QuietOption();
        var command = new Command("eval", "Evaluate the float and quantized networks on inputs and compare them");
        models.AddTo(command);
        command.Options.Add(inputs);
        command.Options.Add(summary);
        command.Options.Add(json);
        command.Options.Add(quiet);
        command.SetAction(parse =>
        {
            var jsonPath = new OutputPaths().File(parse.GetValue(json), "--json", stdoutAllowed: true);
            using var jsonOut = new JsonOutput(jsonPath);
            var (n, q) = models.Load(parse);
            var rows = Csv.ReadRows(parse.GetValue(inputs)!, n.InputSize);
            var summaryOnly = parse.GetValue(summary);
            var records = new List<object>();
            var c = CultureInfo.InvariantCulture;
            double worst = -1;
            int worstRow = 0, worstOutput = 0;
            if (!summaryOnly) Console.WriteLine("row,float outputs,quantized outputs,max |N-Q|,output");
            for (var r = 0; r < rows.Count; r++)
            {
                var y = n.Evaluate(rows[r]);
                var z = q.Evaluate(rows[r]);
                var (diff, at) = MaxAbsDifference(y, z);
                if (diff > worst) (worst, worstRow, worstOutput) = (diff, r, at);
                if (jsonPath is not null) records.Add(new { row = r, floatOutputs = y, quantizedOutputs = z, maxAbsDifference = diff, output = at });
                if (!summaryOnly)
                    Console.WriteLine(string.Create(c, $"{r},[{string.Join(" ", y.Select(v => v.ToString("G9", c)))}],[{string.Join(" ", z.Select(v => v.ToString("G9", c)))}],{diff:G9},{at}"));
            }
            Console.WriteLine(string.Create(c, $"largest |N - Q| over {rows.Count} rows: {worst:G9} (row {worstRow}, output {worstOutput})"));
            jsonOut.Write(CliJson.Serialize(new { rows = rows.Count, maxAbsDifference = worst, row = worstRow, output = worstOutput, perRow = records }));
            return Cli.Ok;
        });
        return command;
    }

    public static (double Value, int Output) MaxAbsDifference(double[] n, double[] q)
    {
        var best = (Value: -1.0, Output: 0);
        for (var j = 0; j < n.Length; j++)
        {
            var d = Math.Abs(n[j] - q[j]);
            if (d > best.Value) best = (d, j);
        }
        return best;
    }
}
