using Dqn.Fun;

/// <summary>
/// A user-defined environment: a corridor of <c>length</c> cells, start in cell 0, actions 0 = left and
/// 1 = right. Reaching the last cell ends the episode (terminated) with reward 1; every step costs 0.01;
/// after 4 × length steps the episode is cut (truncated). The observation is the one-hot cell.
/// </summary>
sealed class ChainWalk(int length) : IEnvironment
{
    private int cell, elapsed = -1;

    public int ObservationSize => length;
    public int ActionCount => 2;

    public float[] Reset(int? seed)
    {
        (cell, elapsed) = (0, 0);
        return Observation();
    }

    public StepResult Step(int action)
    {
        if (action is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(action), action, "action must be 0 or 1");
        if (elapsed < 0) throw new InvalidOperationException("call Reset first");
        cell = Math.Clamp(cell + (action == 1 ? 1 : -1), 0, length - 1);
        elapsed++;
        bool terminated = cell == length - 1, truncated = !terminated && elapsed >= 4 * length;
        if (terminated || truncated) elapsed = -1;
        return new StepResult(Observation(), (terminated ? 1.0 : 0.0) - 0.01, terminated, truncated);
    }

    private float[] Observation()
    {
        var o = new float[length];
        o[cell] = 1f;
        return o;
    }
}
