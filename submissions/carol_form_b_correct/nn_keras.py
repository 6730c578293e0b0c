# Carol Nguyen
# Assignment: Keras, task 1 (nn_keras)

import tensorflow as tf
import numpy as np


def read_file(filename):
    f = open(filename)
    lines = f.readlines()
    f.close()
    data = []
    labels = []
    for line in lines:
        items = line.split()
        if len(items) == 0:
            continue
        data.append([float(v) for v in items[0:-1]])
        labels.append(items[-1])
    return data, labels


def nn_keras(directory, dataset, layers, units_per_layer, epochs):
    training_file = directory + "/" + dataset + "_training.txt"
    test_file = directory + "/" + dataset + "_test.txt"
    (training_data, training_strings) = read_file(training_file)
    (test_data, test_strings) = read_file(test_file)

    # map class names to 0..K-1 in the order they show up (training, then test)
    class_names = []
    for s in training_strings + test_strings:
        if s not in class_names:
            class_names.append(s)
    training_labels = np.array([class_names.index(s) for s in training_strings])
    test_labels = np.array([class_names.index(s) for s in test_strings])
    training_inputs = np.array(training_data)
    test_inputs = np.array(test_data)

    # normalize by max absolute value of the training set
    max_value = np.max(np.abs(training_inputs))
    training_inputs = training_inputs / max_value
    test_inputs = test_inputs / max_value

    input_shape = training_inputs[0].shape
    number_of_classes = int(np.max([np.max(training_labels),
                                    np.max(test_labels)])) + 1

    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=input_shape))
    for i in range(0, layers - 2):
        model.add(tf.keras.layers.Dense(units_per_layer, activation='sigmoid'))
    model.add(tf.keras.layers.Dense(number_of_classes, activation='sigmoid'))

    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=['accuracy'])
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)

    nn_outputs = model.predict(test_inputs, verbose=0)
    total_accuracy = 0
    for test_index in range(len(test_inputs)):
        nn_output = nn_outputs[test_index]
        predicted_class = np.argmax(nn_output)
        actual_class = test_labels[test_index]
        (indices,) = np.nonzero(nn_output == nn_output[predicted_class])
        number_of_ties = np.prod(indices.shape)
        if nn_output[actual_class] == nn_output[predicted_class]:
            accuracy = 1.0 / number_of_ties
        else:
            accuracy = 0
        total_accuracy += accuracy
        print('ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f' %
              (test_index, class_names[predicted_class],
               class_names[actual_class], accuracy))

    classification_accuracy = total_accuracy / len(test_inputs)
    print('classification accuracy=%6.4f' % classification_accuracy)
